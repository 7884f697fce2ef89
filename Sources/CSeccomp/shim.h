#ifndef LALO_CSECCOMP_SHIM_H
#define LALO_CSECCOMP_SHIM_H
#include <seccomp.h>

/// seccomp_rule_add is variadic; Swift cannot call it, so wrap the zero-argument form.
static inline int lalo_seccomp_rule_add0(scmp_filter_ctx ctx, uint32_t action, int syscall) {
    return seccomp_rule_add(ctx, action, syscall, 0);
}

/// Deny-by-argument form: one comparison on argument `arg`.
static inline int lalo_seccomp_rule_add1(scmp_filter_ctx ctx, uint32_t action, int syscall,
                                         unsigned int arg, enum scmp_compare op, scmp_datum_t datum) {
    return seccomp_rule_add(ctx, action, syscall, 1, SCMP_CMP(arg, op, datum));
}
#endif
