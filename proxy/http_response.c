// SPDX-License-Identifier: Apache-2.0
/* Response framing tracker: where does the upstream's response end? */
#include "http_response.h"

#include <string.h>

static int on_resp_headers_complete(llhttp_t *l);
static int on_resp_message_complete(llhttp_t *l);

static llhttp_settings_t resp_settings;
static bool resp_settings_ready;

static int on_resp_headers_complete(llhttp_t *l)
{
	struct sp_resp *r = l->data;
	int st = l->status_code;

	if (st >= 100 && st < 200 && st != 101)
		return 1; /* informational: no body, another response follows */
	r->status = st;
	if (st == 101 || (r->connect_req && st >= 200 && st < 300)) {
		r->tunnel = true;
		return 2;
	}
	if (r->head_req)
		return 1;
	return 0;
}

static int on_resp_message_complete(llhttp_t *l)
{
	struct sp_resp *r = l->data;
	int st = l->status_code;

	if (st >= 100 && st < 200 && st != 101)
		return 0;
	r->done = true;
	r->keep_alive = !r->tunnel && llhttp_should_keep_alive(l);
	return HPE_PAUSED;
}

void sp_resp_init(struct sp_resp *r)
{
	if (!resp_settings_ready) {
		llhttp_settings_init(&resp_settings);
		resp_settings.on_headers_complete = on_resp_headers_complete;
		resp_settings.on_message_complete = on_resp_message_complete;
		resp_settings_ready = true;
	}
	memset(r, 0, sizeof(*r));
	llhttp_init(&r->parser, HTTP_RESPONSE, &resp_settings);
	r->parser.data = r;
}

void sp_resp_start(struct sp_resp *r, bool head_req, bool connect_req)
{
	llhttp_init(&r->parser, HTTP_RESPONSE, &resp_settings);
	r->parser.data = r;
	r->head_req = head_req;
	r->connect_req = connect_req;
	r->started = false;
	r->done = false;
	r->tunnel = false;
	r->keep_alive = false;
	r->status = 0;
	r->errored = 0;
}

long sp_resp_feed(struct sp_resp *r, const char *data, size_t len)
{
	llhttp_errno_t err;

	if (r->done || r->errored)
		return r->errored ? -1 : 0;
	if (len)
		r->started = true;
	err = llhttp_execute(&r->parser, data, len);
	if (err == HPE_OK)
		return (long)len;
	if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
		long used = (long)(llhttp_get_error_pos(&r->parser) - data);

		if (err == HPE_PAUSED)
			llhttp_resume(&r->parser);
		if (err == HPE_PAUSED_UPGRADE) {
			r->done = true;
			r->keep_alive = false;
		}
		return used;
	}
	r->errored = 1;
	return -1;
}

int sp_resp_eof(struct sp_resp *r)
{
	if (r->done)
		return 0;
	if (!r->started)
		return -1;
	if (llhttp_message_needs_eof(&r->parser)) {
		llhttp_errno_t err = llhttp_finish(&r->parser);

		if (err != HPE_OK && err != HPE_PAUSED)
			return -1;
		r->done = true;
		r->keep_alive = false;
		return 0;
	}
	return -1;
}
