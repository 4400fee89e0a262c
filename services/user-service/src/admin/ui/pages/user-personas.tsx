import { useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { session } from '../auth-session';
import { ConfirmDialog } from '../components/confirm-dialog';
import { DateTime } from '../components/date-time';
import { ModalDialog } from '../components/modal-dialog';
import { reportIfTransient } from '../connection-banner';
import type { Persona } from '../types';
import { useCursorList } from './user-cursor-list';
import { type PersonaDraft, PersonaForm } from './user-persona-form';

/** A persona as GET /users/<id>/personas sends it (persona.schemas.ts PersonaPublic). */
interface PersonaRow extends Persona {
  description: string | null;
  relation_type: string;
  status: string;
}

interface PersonaList {
  personas: PersonaRow[];
  total: number;
  next_cursor: string | null;
}

const NEW_PERSONA: PersonaDraft = { name: '', relation_type: 'other', description: '', status: 'active' };

/** The draft as the API takes it: an emptied description is none (null), not "". */
function bodyOf(draft: PersonaDraft, withStatus: boolean) {
  return {
    name: draft.name.trim(),
    relation_type: draft.relation_type.trim(),
    description: draft.description.trim() || null,
    ...(withStatus ? { status: draft.status.trim() } : {}),
  };
}

interface Props {
  userId: string;
  announce: (text: string) => void;
  changed: () => void;
}

/** The user's personas: listed (100 a page, "More personas" for the rest), added, edited and deleted. */
export function UserPersonas({ userId, announce, changed }: Props) {
  const base = `/users/${userId}/personas`;
  const [version, setVersion] = useState(0);
  const list = useCursorList<PersonaRow>(
    async (after, signal) => {
      const page = await session.api<PersonaList>(base, {
        query: { limit: 100, after },
        ...(signal ? { signal } : {}),
      });
      return { items: page.personas, next: page.next_cursor };
    },
    [userId, version],
  );
  const reload = () => {
    setVersion((v) => v + 1);
    changed();
  };

  const [editing, setEditing] = useState<PersonaRow>();
  const [deleting, setDeleting] = useState<PersonaRow>();
  const [deleteBusy, setDeleteBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<string>();

  const add = async (draft: PersonaDraft) => {
    const created = await session.api<PersonaRow>(base, { method: 'POST', body: bodyOf(draft, false) });
    announce(`Added persona ${created.name}.`);
    reload();
  };
  const save = (persona: PersonaRow) => async (draft: PersonaDraft) => {
    const updated = await session.api<PersonaRow>(`${base}/${persona.id}`, {
      method: 'PATCH',
      body: bodyOf(draft, true),
    });
    setEditing(undefined);
    announce(`Saved persona ${updated.name}.`);
    reload();
  };
  const remove = async () => {
    if (!deleting) return;
    setDeleteBusy(true);
    setDeleteError(undefined);
    try {
      await session.api(`${base}/${deleting.id}`, { method: 'DELETE' });
      announce(`Deleted persona ${deleting.name}.`);
      setDeleting(undefined);
      reload();
    } catch (error) {
      if (!reportIfTransient(error, () => void remove())) {
        setDeleteError(error instanceof ApiError ? error.message : String(error));
      }
    } finally {
      setDeleteBusy(false);
    }
  };

  return (
    <section class="user-section" aria-labelledby="personas-heading">
      <h2 id="personas-heading">Personas</h2>
      {list.error && (
        <p class="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.data && list.items.length === 0 ? (
        <p class="muted">No personas.</p>
      ) : (
        <div class="table-wrap">
          <table aria-label="Personas">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Relation</th>
                <th scope="col" class="wide">
                  Description
                </th>
                <th scope="col">Status</th>
                <th scope="col" class="wide">
                  Created
                </th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((persona) => (
                <tr key={persona.id}>
                  <td>{persona.name}</td>
                  <td>{persona.relation_type}</td>
                  <td class="wide">{persona.description ?? <span class="muted">—</span>}</td>
                  <td>{persona.status}</td>
                  <td class="wide">
                    <DateTime iso={persona.created_at} />
                  </td>
                  <td class="row-actions">
                    <button type="button" onClick={() => setEditing(persona)}>
                      Edit {persona.name}
                    </button>
                    <button
                      type="button"
                      onClick={() => {
                        setDeleteError(undefined);
                        setDeleting(persona);
                      }}
                    >
                      Delete {persona.name}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.next && (
        <button type="button" onClick={list.loadMore} disabled={list.loadingMore}>
          More personas
        </button>
      )}
      {list.moreError && (
        <p class="error" role="alert">
          {list.moreError}
        </p>
      )}

      <h3>New persona</h3>
      <PersonaForm
        idPrefix="new-persona"
        label="New persona"
        initial={NEW_PERSONA}
        withStatus={false}
        submitLabel="Add persona"
        send={add}
        resetAfter
      />

      {editing && (
        <ModalDialog labelledBy="edit-persona-title" onClose={() => setEditing(undefined)}>
          <h2 id="edit-persona-title">Edit persona {editing.name}</h2>
          <PersonaForm
            idPrefix="edit-persona"
            label={`Edit persona ${editing.name}`}
            initial={{
              name: editing.name,
              relation_type: editing.relation_type,
              description: editing.description ?? '',
              status: editing.status,
            }}
            withStatus
            submitLabel="Save"
            send={save(editing)}
            resetAfter={false}
            onCancel={() => setEditing(undefined)}
          />
        </ModalDialog>
      )}
      {deleting && (
        <ConfirmDialog
          message={`Delete persona ${deleting.name}? This cannot be undone.`}
          confirmLabel={`Delete ${deleting.name}`}
          busy={deleteBusy}
          error={deleteError}
          onConfirm={() => void remove()}
          onCancel={() => setDeleting(undefined)}
        />
      )}
    </section>
  );
}
