/* SPDX-License-Identifier: Apache-2.0 */
/* The error-message helper the CNI files share: format into err when there is one. */
#ifndef SHUNT_CNI_SETERR_H
#define SHUNT_CNI_SETERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
