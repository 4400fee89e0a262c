/** The users table (owned by the users-page work): placeholder until it lands. */
export function UsersPage() {
  return <h1>Users</h1>;
}
