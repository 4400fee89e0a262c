/** One user's page (owned by the users-page work): placeholder until it lands. */
export function UserPage({ id }: { id: string }) {
  return <h1>User {id}</h1>;
}
