"""Integration-test harness for importgate: real MariaDB, real clients, the gateway process."""
