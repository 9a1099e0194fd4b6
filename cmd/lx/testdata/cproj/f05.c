#include "proj.h"

/* f05: a little arithmetic the compiler cannot fold away. */
long f05(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 5) % 11 + (s >> 3);
	return s % 100003;
}
