/*
 * Private to the HTTP protocols (protocols/http/).
 */
#ifndef WIRE_HTTP_INT_H
#define WIRE_HTTP_INT_H

#include <wire/http.h>
#include <wire/transport_impl.h>

#include <llhttp.h>

#endif
