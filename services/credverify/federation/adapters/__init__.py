"""The federation operator's I/O beyond publishing records: the hub's principals, ACLs and topics."""
