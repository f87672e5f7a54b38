/* db.h - placeholder */
