/* placeholder: the starttls suite is being written */
#include "unit.h"

Suite *
starttls_suite(void)
{
    return suite_create("starttls");
}
