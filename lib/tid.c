/* tid.c - placeholder, being written */
