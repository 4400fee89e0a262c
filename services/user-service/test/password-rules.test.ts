/**
 * New passwords are refused when they are in @zxcvbn-ts/language-common's list of commonly used passwords
 * (without regard to case), with a 422-shaped InvalidInputError that says why; others pass.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { dictionary } from '@zxcvbn-ts/language-common';
import { InvalidInputError } from '../src/errors.js';
import { assertAcceptablePassword, COMMON_PASSWORD_MESSAGE, isCommonPassword } from '../src/users/password-rules.js';

it("the list is the package's common-password list and holds the passwords tested here", () => {
  const list = dictionary['passwords-common'];
  assert.ok(list.length > 10_000, `${list.length} passwords`);
  for (const common of ['password', 'qwerty123', '123456789', 'password123', 'letmein']) {
    assert.ok(list.includes(common), `${common} is in the list`);
  }
});

it('refuses common passwords, whatever their case, with the field and the reason', () => {
  for (const common of ['password', 'qwerty123', '123456789', 'Password123', 'LETMEIN']) {
    assert.equal(isCommonPassword(common), true, common);
    assert.throws(
      () => assertAcceptablePassword(common, ['body', 'new_password']),
      (error: unknown) => {
        assert.ok(error instanceof InvalidInputError);
        assert.deepEqual(error.loc, ['body', 'new_password']);
        assert.equal(error.message, COMMON_PASSWORD_MESSAGE);
        assert.match(error.message, /too common/);
        return true;
      },
      common,
    );
  }
});

it('accepts a long random password and uncommon phrases', () => {
  for (const password of [randomBytes(24).toString('base64url'), 'correct horse battery', 'Tr0ub4dor&3-unlisted']) {
    assert.equal(isCommonPassword(password), false, password);
    assert.doesNotThrow(() => assertAcceptablePassword(password, ['body', 'password']));
  }
});
