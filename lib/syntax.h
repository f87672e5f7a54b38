/* syntax.h - placeholder */
