/* Reading values of entries the way their syntax compares them. */
#include "rg389.h"

int
rg389_has_value(const Slapi_Entry *e, const char *attr, const char *value)
{
	Slapi_Value *v = slapi_value_new_string(value);
	int found = slapi_entry_attr_has_syntax_value(e, attr, v);

	slapi_value_free(&v);
	return found;
}
