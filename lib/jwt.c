/* jwt.c - placeholder, being written */
