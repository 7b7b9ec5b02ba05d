"""What each key may do, where it may be used from and when it expires: probes, risk rules and storage."""
