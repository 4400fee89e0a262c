/** Where the verification mail's link lands (owned by the keys/audit work): placeholder until it lands. */
export function VerifyEmailPage() {
  return <h1>Verify your email</h1>;
}
