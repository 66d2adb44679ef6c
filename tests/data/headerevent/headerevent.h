/* The event type lives in the program's own header, as in libbpf-tools
 * (opensnoop.h's struct event): only a pointer to it appears in the C code. */
#ifndef HEADEREVENT_H
#define HEADEREVENT_H

#define HEADEREVENT_COMM_LEN 16

struct event {
	unsigned int pid;
	long long arg;
	char comm[HEADEREVENT_COMM_LEN];
};

enum headerevent_kind { HEADEREVENT_ENTER = 1, HEADEREVENT_EXIT = 2 };

#endif
