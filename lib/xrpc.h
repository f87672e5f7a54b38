/* xrpc.h - placeholder */
