/*
 * password_hash.h: argon2id hashing of people's passwords, and the settings that size it.
 */
#ifndef CCROUTE_PASSWORD_HASH_H
#define CCROUTE_PASSWORD_HASH_H

extern void ccroute_define_password_settings(void);

#endif
