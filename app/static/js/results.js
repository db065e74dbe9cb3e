// Drawing the search answer: the seat-kind bar chart and the ranked result cards.

const percent = (value) => `${(value * 100).toFixed(value >= 0.995 || value < 0.1 ? 1 : 0)} %`;
const degrees = (value) => `${value.toFixed(1)}°`;

/** Small helper: an element with a class and text (text is set as text, never as HTML). */
/** 'office_chair' -> 'office chair' (seat kinds are identifiers in the API). */
const kindLabel = (kind) => kind.replaceAll('_', ' ');

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Horizontal bars, one per seat kind, most probable first (the API already sorts them). */
export function renderCategories(list, categories) {
  list.replaceChildren(...categories.map(({ label, probability }) => {
    const item = el('li', 'bar-row');
    const track = el('span', 'bar-track');
    const fill = el('span', 'bar-fill');
    fill.style.width = `${Math.max(probability * 100, 0.5)}%`;
    track.append(fill);
    item.append(el('span', 'bar-label', kindLabel(label)), track, el('span', 'bar-value', percent(probability)));
    return item;
  }));
}

/** How the measured error compares with what the index can resolve: good, fair or poor. */
function errorGrade(result) {
  const ratio = result.angular_error_deg / Math.max(result.expected_error_deg, 1);
  if (ratio <= 1.5) return 'good';
  return ratio <= 4 ? 'fair' : 'poor';
}

function figures(result) {
  const rows = [
    ['Polar', degrees(result.pose.polar_deg)],
    ['Azimuth', degrees(result.pose.azimuth_deg)],
    ['Expected error', `±${degrees(result.expected_error_deg)}`],
  ];
  if (result.pose_refined) rows.push(['Pose', 'refined by render-and-compare']);
  if (result.angular_error_deg !== null && result.angular_error_deg !== undefined) {
    rows.push(['Angular error', degrees(result.angular_error_deg)]);
  }
  const list = el('dl', 'figures');
  for (const [name, value] of rows) {
    const row = el('div', name === 'Angular error' ? `figure measured ${errorGrade(result)}` : 'figure');
    row.append(el('dt', '', name), el('dd', '', value));
    list.append(row);
  }
  return list;
}

function scoreBar(score) {
  const box = el('div', 'score');
  const track = el('span', 'score-track');
  const fill = el('span', 'score-fill');
  fill.style.width = `${score * 100}%`;
  track.append(fill);
  box.append(el('span', 'score-label', 'Score'), track, el('span', 'score-value', percent(score)));
  return box;
}

function provenance(result) {
  const line = el('p', 'provenance');
  line.append(el('span', '', result.licence ? `Licence ${result.licence}` : 'Licence unknown'));
  line.append(el('span', '', result.creator ? `by ${result.creator}` : 'creator unknown'));
  if (result.source && result.source.startsWith('github.com/')) {
    const origin = el('a', '', 'origin');
    origin.href = `https://${result.source}`;
    origin.title = result.source;
    line.append(origin);
  } else if (result.source) {
    line.append(el('span', '', `from ${result.source}`));
  }
  const source = el('a', '', 'source file');
  source.href = result.source_url;
  source.setAttribute('download', '');
  line.append(source);
  return line;
}

function card(result, rank, onSelect) {
  const item = el('li', 'result');
  item.dataset.modelId = result.model_id;
  const view = el('img', 'result-view');
  view.src = result.view_url;
  view.alt = `Best matching rendered view of ${result.name}`;
  view.loading = 'lazy';
  const body = el('div', 'result-body');
  const title = el('h3', 'result-name');
  title.append(el('span', 'rank', `${rank}.`), ` ${result.name}`);
  body.append(title, el('p', 'seat-kind', result.seat_kind ? kindLabel(result.seat_kind) : 'unknown kind'), scoreBar(result.score),
    figures(result), provenance(result));
  if (result.model_url) {
    const button = el('button', 'show-3d', 'View in 3D');
    button.type = 'button';
    button.setAttribute('aria-pressed', 'false');
    button.setAttribute('aria-label', `View ${result.name} in 3D at its estimated pose`);
    button.addEventListener('click', () => onSelect(rank - 1));
    body.append(button);
  } else {
    body.append(el('p', 'no-3d muted', 'No 3D model available'));
  }
  item.append(view, body);
  return item;
}

/** One card per result; `onSelect(index)` is called when the user asks for a result's 3D view. */
export function renderResults(list, results, onSelect) {
  list.replaceChildren(...results.map((result, i) => card(result, i + 1, onSelect)));
}

/** Mark the result shown in the viewer (or none, with index -1). */
export function markSelected(list, index) {
  [...list.children].forEach((item, i) => {
    item.classList.toggle('selected', i === index);
    item.querySelector('.show-3d')?.setAttribute('aria-pressed', String(i === index));
  });
}
