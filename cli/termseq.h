/* termseq.h - the signals that stop a job (--termseq). */
#ifndef MPROC_CLI_TERMSEQ_H
#define MPROC_CLI_TERMSEQ_H

/* Signals to send in turn, each followed by the milliseconds to wait
 * before the next, while the job lives (GNU parallel's default:
 * TERM,200,TERM,100,TERM,50,KILL,25). */
#define TERM_SEQ_MAX 16
typedef struct term_seq {
    int sig[TERM_SEQ_MAX];
    int ms[TERM_SEQ_MAX];
    int steps;          /* 0: not given */
} term_seq;

#endif
