/*
 * examples/demo's protocol: a JSON-RPC 2.0 calculator as a method table
 * for the JSON-RPC peer, and the calls its client makes with the answer
 * each must get.  Nothing here knows what carries the messages: demo.c
 * runs this same table over every stack.
 */
#include "demo-calc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIV_BY_ZERO (-32000) /* a server error (-32000..-32099) */
#define OUT_OF_RANGE (-32001)

/* ---- the protocol: a calculator, as a JSON-RPC method table ---- */

/* Answer [a, b] with a op b: an integer when both are integers and the
 * result is one, else a real. */
static void
calc(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    char op = *(const char *)arg;
    json_t *a = json_array_get(params, 0), *b = json_array_get(params, 1);
    if (!json_is_array(params) || json_array_size(params) != 2 ||
        !json_is_number(a) || !json_is_number(b)) {
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL,
                                   json_string("expected [a, b], numbers"));
        return;
    }
    if (op == '/' && json_number_value(b) == 0) {
        wire_jsonrpc_respond_error(call, DIV_BY_ZERO, "division by zero",
                                   NULL);
        return;
    }
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b), r = 0;
        bool exact;
        switch (op) {
        case '+': exact = !__builtin_add_overflow(x, y, &r); break;
        case '-': exact = !__builtin_sub_overflow(x, y, &r); break;
        case '*': exact = !__builtin_mul_overflow(x, y, &r); break;
        default: /* '/': an integer when it divides exactly */
            exact = (x != (json_int_t)LLONG_MIN || y != -1) && x % y == 0;
            r = exact ? x / y : 0;
        }
        if (exact) {
            wire_jsonrpc_respond(call, json_integer(r));
            return;
        }
    }
    double x = json_number_value(a), y = json_number_value(b);
    double r = op == '+'   ? x + y
               : op == '-' ? x - y
               : op == '*' ? x * y
                           : x / y;
    json_t *v = json_real(r); /* NULL for inf and nan: not JSON numbers */
    if (v == NULL)
        wire_jsonrpc_respond_error(call, OUT_OF_RANGE, "result out of range",
                                   NULL);
    else
        wire_jsonrpc_respond(call, v);
}

/* One handler for the four methods: each entry's arg is its operator. */
const struct wire_jsonrpc_method demo_calc_methods[DEMO_CALC_NMETHODS] = {
    {"add", calc, (void *)"+"},
    {"subtract", calc, (void *)"-"},
    {"multiply", calc, (void *)"*"},
    {"divide", calc, (void *)"/"},
};

/* ---- the calls the client makes, and what each must answer ---- */

const char *const demo_op_names[DEMO_CALC_NMETHODS] = {
    "add", "subtract", "multiply", "divide"};

/* b runs through -3..3, so every 28th call (the first is call 3)
 * divides by zero. */
void
demo_call_args(int i, int *op, json_int_t *a, json_int_t *b)
{
    *op = i % 4;
    *a = (json_int_t)i * 37 - 1000;
    *b = i % 7 - 3;
}

bool
demo_check_answer(int i, json_t *result, const struct wire_jsonrpc_error *e,
                  char *why, size_t len)
{
    int op;
    json_int_t a, b;
    demo_call_args(i, &op, &a, &b);
    if (op == 3 && b == 0) {
        if (e != NULL && !e->local && e->code == DIV_BY_ZERO &&
            strcmp(e->message, "division by zero") == 0)
            return true;
        snprintf(why, len, "divide [%lld, 0]: expected error %d \"division "
                 "by zero\", got %s%s", (long long)a, DIV_BY_ZERO,
                 e != NULL ? "error: " : "a result",
                 e != NULL ? e->message : "");
        return false;
    }
    if (e != NULL) {
        snprintf(why, len, "%s [%lld, %lld]: error %d: %s", demo_op_names[op],
                 (long long)a, (long long)b, e->code, e->message);
        return false;
    }
    double x = (double)a, y = (double)b;
    double want = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
    bool integral = op != 3 || a % b == 0;
    if ((integral ? json_is_integer(result) : json_is_real(result)) &&
        json_number_value(result) == want)
        return true;
    char *got = json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(why, len, "%s [%lld, %lld]: expected %.17g, got %s",
             demo_op_names[op], (long long)a, (long long)b, want,
             got != NULL ? got : "?");
    free(got);
    return false;
}
