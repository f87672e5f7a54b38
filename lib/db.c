/* db.c - placeholder, being written */
