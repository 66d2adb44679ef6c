/* The event type in the program's own header, as in libbpf-tools. */
#ifndef GLOBALSNOOP_H
#define GLOBALSNOOP_H

#define GLOBALSNOOP_COMM_LEN 16

struct event {
	unsigned int pid;
	int ret;
	char comm[GLOBALSNOOP_COMM_LEN];
};

enum globalsnoop_mode { GLOBALSNOOP_ALL = 0, GLOBALSNOOP_COUNT_ONLY = 2 };

#endif
