#include <stdio.h>
#include "proj.h"

int main(void)
{
	printf("f01 %ld\n", f01(1000 + 1));
	printf("f02 %ld\n", f02(1000 + 2));
	printf("f03 %ld\n", f03(1000 + 3));
	printf("f04 %ld\n", f04(1000 + 4));
	printf("f05 %ld\n", f05(1000 + 5));
	printf("f06 %ld\n", f06(1000 + 6));
	printf("f07 %ld\n", f07(1000 + 7));
	printf("f08 %ld\n", f08(1000 + 8));
	printf("f09 %ld\n", f09(1000 + 9));
	printf("f10 %ld\n", f10(1000 + 10));
	return 0;
}
