/* multikey.c - placeholder, being written */
