/*
 * role_password.h: the tenant's password policy applied to people's PostgreSQL roles.
 */
#ifndef CCROUTE_ROLE_PASSWORD_H
#define CCROUTE_ROLE_PASSWORD_H

extern void ccroute_install_password_check(void);

#endif
