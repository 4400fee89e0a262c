/** Where the password-reset mail's link lands (owned by the keys/audit work): placeholder until it lands. */
export function ResetPasswordPage() {
  return <h1>Choose a new password</h1>;
}
