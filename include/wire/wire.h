/**
 * @file
 * libwire — everything a program needs, in one include.
 *
 * The libevent bridge (<wire/loop_event.h>) and the implementor's header
 * (<wire/transport_impl.h>) are left out on purpose: include them when
 * you need them.
 */
#ifndef WIRE_WIRE_H
#define WIRE_WIRE_H

#include <wire/common.h>
#include <wire/loop.h>
#include <wire/protocol.h>
#include <wire/transport.h>
#include <wire/endpoint.h>
#include <wire/mem.h>
#include <wire/string_transport.h>
#include <wire/relay.h>
#include <wire/framing.h>
#include <wire/stream.h>
#include <wire/pipe.h>
#include <wire/subprocess.h>
#include <wire/serial.h>
#include <wire/file.h>
#include <wire/tls.h>
#include <wire/http.h>
#include <wire/jsonrpc.h>
#include <wire/trace.h>
#include <wire/record.h>
#include <wire/fault.h>

#endif /* WIRE_WIRE_H */
