#include "proj.h"

/* f01: a little arithmetic the compiler cannot fold away. */
long f01(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 1) % 7 + (s >> 3);
	return s % 100003;
}
