"""A small SIP user agent client (RFC 3261) that places flash calls over UDP or TCP trunks."""
