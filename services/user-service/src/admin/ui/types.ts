/** The API's JSON shapes the console reads (the service's *.schemas.ts files), snake_case as sent. */

export interface User {
  id: string;
  email: string;
  username: string | null;
  full_name: string | null;
  is_active: boolean;
  is_superuser: boolean;
  is_verified: boolean;
  created_at: string;
  updated_at: string;
}

export interface UserList {
  users: User[];
  total: number;
  skip: number;
  limit: number;
  next_cursor: string | null;
  total_capped?: boolean;
}

export interface Persona {
  id: string;
  user_id: string;
  name: string;
  description: string | null;
  relation_type: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface Session {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

export interface AuditEvent {
  id: string;
  created_at: string;
  event: string;
  /** The signed-in user who did it; null for an API key or the CLI. */
  actor_user_id: string | null;
  actor_api_key_id: string | null;
  target_user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  detail: Record<string, unknown> | null;
}

export interface Tokens {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  refresh_token: string;
}
