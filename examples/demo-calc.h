/*
 * examples/demo's protocol (demo-calc.c): a JSON-RPC calculator, and the
 * calls the client makes with the answer each must get.
 */
#ifndef WIRE_EXAMPLES_DEMO_CALC_H
#define WIRE_EXAMPLES_DEMO_CALC_H

#include <wire/wire.h>

#include <stdbool.h>
#include <stddef.h>

enum { DEMO_CALC_NMETHODS = 4 };

/* The server's methods: add, subtract, multiply and divide, each taking
 * [a, b].  Dividing by zero answers the error object {"code": -32000,
 * "message": "division by zero"}. */
extern const struct wire_jsonrpc_method demo_calc_methods[DEMO_CALC_NMETHODS];

/* The method names, by the operator number demo_call_args gives. */
extern const char *const demo_op_names[DEMO_CALC_NMETHODS];

/* Call i: its operator (an index of demo_op_names) and operands. */
void demo_call_args(int i, int *op, json_int_t *a, json_int_t *b);

/* Check call i's outcome (its result, or the error answer `e`); false
 * with `why` (of `len` bytes) set when it is wrong. */
bool demo_check_answer(int i, json_t *result,
                       const struct wire_jsonrpc_error *e, char *why,
                       size_t len);

#endif
