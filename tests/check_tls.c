/* placeholder: the tls suite is being written */
#include "unit.h"

Suite *
tls_suite(void)
{
    return suite_create("tls");
}
