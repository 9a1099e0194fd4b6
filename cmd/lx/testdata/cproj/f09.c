#include "proj.h"

/* f09: a little arithmetic the compiler cannot fold away. */
long f09(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 9) % 15 + (s >> 3);
	return s % 100003;
}
