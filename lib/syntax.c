/* syntax.c - placeholder, being written */
