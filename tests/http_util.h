/* placeholder */
#ifndef WIRE_TESTS_HTTP_UTIL_H
#define WIRE_TESTS_HTTP_UTIL_H
#endif
