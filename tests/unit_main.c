/*
 * tests/check_unit: one Check runner over the unit suites, one suite per
 * concept (errors, loop, endpoints, string transport, layers, contract
 * checker, servers, framing and its chunk and lenprefix formats, their
 * callback forms, stream).  The transport conformance suite is a separate
 * program (tests/conformance.c).
 *
 * Under CK_FORK=no (valgrind) the tests that expect the process to abort
 * cannot run: they are left out and the runner says so.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

int
main(void)
{
    SRunner *sr = srunner_create(error_suite());
    unit_can_fork = srunner_fork_status(sr) != CK_NOFORK;
    if (!unit_can_fork)
        fprintf(stderr, "check_unit: CK_FORK=no: skipping the tests that "
                        "expect the contract checker to abort\n");
    srunner_add_suite(sr, loop_suite());
    srunner_add_suite(sr, endpoint_suite());
    srunner_add_suite(sr, string_suite());
    srunner_add_suite(sr, layer_suite());
    srunner_add_suite(sr, contract_suite());
    srunner_add_suite(sr, sock_suite());
    srunner_add_suite(sr, server_suite());
    srunner_add_suite(sr, workers_suite());
    srunner_add_suite(sr, framing_suite());
    srunner_add_suite(sr, chunk_suite());
    srunner_add_suite(sr, lenprefix_suite());
    srunner_add_suite(sr, message_handler_suite());
    srunner_add_suite(sr, stream_suite());
    srunner_add_suite(sr, pipe_suite());
    srunner_add_suite(sr, file_suite());
    srunner_add_suite(sr, subprocess_suite());
    srunner_add_suite(sr, serial_suite());
    srunner_add_suite(sr, tls_suite());
    srunner_add_suite(sr, starttls_suite());
    srunner_add_suite(sr, http_head_suite());
    srunner_add_suite(sr, http_server_suite());
    srunner_add_suite(sr, http_client_suite());
    srunner_add_suite(sr, http_layer_suite());
    srunner_add_suite(sr, content_length_suite());
    srunner_add_suite(sr, jsonrpc_suite());
    srunner_add_suite(sr, trace_suite());
    srunner_add_suite(sr, record_suite());
    srunner_add_suite(sr, fault_suite());
    (void)unit_seed(); /* chosen before the runner forks */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    if (failed != 0) /* so a failing random split can be replayed */
        fprintf(stderr, "check_unit: random splits used WIRE_TEST_SEED=%u\n",
                unit_seed());
    srunner_free(sr);
    unit_output(NULL);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
