/* encoding.c - placeholder, being written */
