#include "proj.h"

/* f06: a little arithmetic the compiler cannot fold away. */
long f06(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 6) % 12 + (s >> 3);
	return s % 100003;
}
