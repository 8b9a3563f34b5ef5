/* Refusing an operation from a backend transaction hook: the backend aborts the
 * transaction and sends this code and text (it copies the text). */
#include "rg389.h"

int
rg389_refuse(Slapi_PBlock *pb, int code, const char *text)
{
	slapi_pblock_set(pb, SLAPI_RESULT_CODE, &code);
	slapi_pblock_set(pb, SLAPI_PB_RESULT_TEXT, (void *)text);
	return -1;
}
