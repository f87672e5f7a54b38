/* xrpc.c - placeholder, being written */
