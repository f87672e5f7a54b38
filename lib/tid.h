/* tid.h - placeholder */
