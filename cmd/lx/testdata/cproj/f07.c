#include "proj.h"

/* f07: a little arithmetic the compiler cannot fold away. */
long f07(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 7) % 13 + (s >> 3);
	return s % 100003;
}
