// bcrypt hashes of "secret-password-1" written by an implementation independent of ours (libxcrypt, through
// Python's crypt module), in the $2b$ format passlib writes; cost 12 is passlib's default.
export const PASSLIB_BCRYPT = '$2b$12$abcdefghijklmnopqrstuuX93mVdcuPnSUtWKlKcX/LqO0.59xjnG';
export const BCRYPT_2A = '$2a$10$ABCDEFGHIJKLMNOPQRSTUuPlkd10NXBfQRMgTmRbqLstGpDmVqfYG';
export const BCRYPT_2Y = '$2y$10$ABCDEFGHIJKLMNOPQRSTUuPlkd10NXBfQRMgTmRbqLstGpDmVqfYG';
