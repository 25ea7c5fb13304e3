/* SPDX-License-Identifier: ISC */
/*
 * The table of figures, printed a row at a time as each is measured: the
 * figure, its value and unit, and, where there is one, the baseline it is
 * compared with and the ratio value / baseline.
 */

#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "bench.h"

#define TABLE_FORMAT	"%-50s %12s %-8s %12s %7s\n"

/* Enough significant digits for any figure, without a long tail. */
static const char *
table_number(double v, char *buf, size_t len)
{
	double	a = v < 0 ? -v : v;

	if (a >= 1000 || a == 0)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 100)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3g", v);
	return (buf);
}

void
table_header(void)
{
	printf(TABLE_FORMAT, "figure", "value", "unit", "baseline", "ratio");
	printf(TABLE_FORMAT, "------", "-----", "----", "--------", "-----");
	fflush(stdout);
}

void
table_row(const char *figure, double value, const char *unit)
{
	char	v[32];

	printf(TABLE_FORMAT, figure, table_number(value, v, sizeof v), unit,
	    "", "");
	fflush(stdout);
}

/* A figure with its baseline; ratio is value / base. */
void
table_ratio(const char *figure, double value, const char *unit, double base)
{
	char	v[32], b[32], r[32];

	if (base != 0)
		snprintf(r, sizeof r, "%.2f", value / base);
	else
		snprintf(r, sizeof r, "-");
	printf(TABLE_FORMAT, figure, table_number(value, v, sizeof v), unit,
	    table_number(base, b, sizeof b), r);
	fflush(stdout);
}

void
table_note(const char *fmt, ...)
{
	va_list	ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}
