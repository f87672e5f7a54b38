/* identity.c - placeholder, being written */
