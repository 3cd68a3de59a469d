// Every word the page shows, in English, French and Russian; plural forms by the language's
// own rules (Intl.PluralRules: Russian has one, few and many).

export const LANGS = ["en", "fr", "ru"];

export const WORDS = {
  en: {
    title: "Common operational picture", language: "Language", logout: "Log out",
    login: "Log in as a party", loginHelp: "Paste a bearer token for your party.",
    useToken: "Use this token", demoLogin: "Demo: log in as",
    demoBanner: "Demo login is on: anyone who can reach this service can act as any party.",
    time: "Time", now: "Now", play: "Play", pause: "Pause", speed: "speed",
    allTimes: "all times", conflicts: "Conflicts", hotline: "Hotline", message: "Message",
    freeText: "or free text", needsAck: "ask for acknowledgement within 5 min", send: "Send",
    newIntent: "New intent", drawHelp: "Draw on the map (click the corners, then Check) or paste GeoJSON.",
    draw: "Draw", clear: "Clear", from: "from", to: "to", check: "Check", submit: "Submit",
    altitude: "altitude", links: "Links", tracks: "Tracks", noConflicts: "No conflicts.", acknowledge: "Acknowledge",
    acknowledged: "acknowledged", escalated: "escalated to", untranslated: "untranslated",
    own: "own", full: "released in full", extent: "released as extent", overlap: "overlap",
    apart: "apart", draftClear: "No conflict: you can submit.",
    submitted: "Submitted.", freeOption: "— free text —", you: "you", notice: "(notice only: no geometry released)",
    lost: "separation lost", outside: "outside its intent",
    entersIn: "enters {area} in {d}", leavesIn: "inside {area}, leaves in {d}", leftAgo: "left {area} {d} ago",
    insideArea: "inside {area}", cpaIn: "CPA in", cpaPassed: "CPA passed", cpa: "CPA",
    entryUnknown: "entry time not given", timeUnknown: "time not given",
    sent: "Sent.",
    layers: "Layers", layerOwn: "own plans", layerOthers: "others' plans", layerAreas: "areas",
    layerTracks: "tracks", layerConflicts: "conflicts", layerLabels: "labels",
    legend: "Legend", lgOwnFull: "own plan", lgOtherFull: "other party's plan, in full",
    lgOtherExtent: "other party's plan, coarsened extent", lgArea: "restricted area",
    lgConflict: "in conflict", lgSelected: "selected conflict pair", lgDraft: "draft",
    lgFriend: "own track (friend)", lgNeutral: "partner's track (neutral)", lgUnknown: "unexplained track (unknown)",
    lgLeader: "course/speed leader: 1 min", lgTrail: "track history",
    rangeBearing: "Range and bearing", rbHelp: "click two points on the map", rbOff: "Stop measuring",
    cursor: "Cursor", zoomIn: "Zoom in", zoomOut: "Zoom out", resetNorth: "Reset bearing to north",
    nm: "NM", km: "km", m: "m", kt: "kt", s: "s", min: "min", FL: "FL", true: "T",
    more: "more",
    "param.altitude": "altitude (m)", "param.distance": "distance (m)", "param.heading": "heading (° true)",
    "param.position": "position (lon, lat)", "param.time": "time (UTC)", "param.track": "track",
    "cat.ADVICE": "Advice", "cat.ANSWER": "Answer", "cat.INFORMATION": "Information", "cat.INTENTION": "Intention",
    "cat.QUESTION": "Question", "cat.REQUEST": "Request", "cat.WARNING": "Warning",
    "link.up": "up", "link.degraded": "degraded", "link.unknown": "unknown",
    "cls.fixed-wing": "fixed-wing", "cls.rotary": "rotary-wing", "cls.drone": "drone", "cls.ship": "ship",
    "state.Accepted": "accepted", "state.Activated": "activated", "state.Nonconforming": "nonconforming",
    "state.Contingent": "contingent",
    "cat.air-sortie": "air sortie", "cat.naval-operating-area": "naval operating area", "cat.exercise": "exercise",
    "cat.drone-flight": "drone flight", "cat.other": "other",
    countTracks: { one: "{n} track", other: "{n} tracks" },
    countDraftConflicts: { one: "{n} conflict before submit", other: "{n} conflicts before submit" },
    errJson: "GeoJSON: not valid JSON{detail}.", atChar: "at character",
    errGeometry: "GeoJSON: expected a Polygon (or a Feature or FeatureCollection holding one), got {detail}.",
    errCorners: "Draw at least 3 corners, or paste a GeoJSON Polygon.",
    errTimes: "Give a start and an end time (UTC).",
    errNumber: "{field}: a number is needed.",
  },
  fr: {
    title: "Situation opérationnelle commune", language: "Langue", logout: "Se déconnecter",
    login: "Se connecter comme partie", loginHelp: "Collez un jeton d'accès de votre partie.",
    useToken: "Utiliser ce jeton", demoLogin: "Démo : se connecter comme",
    demoBanner: "Connexion de démonstration active : quiconque atteint ce service peut agir au nom de n'importe quelle partie.",
    time: "Heure", now: "Maintenant", play: "Lecture", pause: "Pause", speed: "vitesse",
    allTimes: "toutes les heures", conflicts: "Conflits", hotline: "Ligne directe", message: "Message",
    freeText: "ou texte libre", needsAck: "demander un accusé de réception sous 5 min", send: "Envoyer",
    newIntent: "Nouvelle intention", drawHelp: "Dessinez sur la carte (cliquez les sommets, puis Vérifier) ou collez du GeoJSON.",
    draw: "Dessiner", clear: "Effacer", from: "de", to: "à", check: "Vérifier", submit: "Soumettre",
    altitude: "altitude", links: "Liaisons", tracks: "Pistes", noConflicts: "Aucun conflit.", acknowledge: "Accuser réception",
    acknowledged: "reçu", escalated: "escaladé à", untranslated: "non traduit",
    own: "propre", full: "communiqué en entier", extent: "communiqué en emprise", overlap: "chevauchement",
    apart: "d'écart", draftClear: "Aucun conflit : vous pouvez soumettre.",
    submitted: "Soumis.", freeOption: "— texte libre —", you: "vous", notice: "(avis seulement : aucune géométrie communiquée)",
    lost: "séparation perdue", outside: "hors de son intention",
    entersIn: "entre dans {area} dans {d}", leavesIn: "dans {area}, en sort dans {d}", leftAgo: "a quitté {area} il y a {d}",
    insideArea: "dans {area}", cpaIn: "CPA dans", cpaPassed: "CPA dépassé", cpa: "CPA",
    entryUnknown: "heure d'entrée non fournie", timeUnknown: "heure non fournie",
    sent: "Envoyé.",
    layers: "Couches", layerOwn: "plans propres", layerOthers: "plans des autres", layerAreas: "zones",
    layerTracks: "pistes", layerConflicts: "conflits", layerLabels: "étiquettes",
    legend: "Légende", lgOwnFull: "plan propre", lgOtherFull: "plan d'une autre partie, en entier",
    lgOtherExtent: "plan d'une autre partie, emprise élargie", lgArea: "zone réglementée",
    lgConflict: "en conflit", lgSelected: "paire du conflit choisi", lgDraft: "brouillon",
    lgFriend: "piste propre (ami)", lgNeutral: "piste d'un partenaire (neutre)", lgUnknown: "piste inexpliquée (inconnu)",
    lgLeader: "vecteur route/vitesse : 1 min", lgTrail: "historique de la piste",
    rangeBearing: "Distance et relèvement", rbHelp: "cliquez deux points sur la carte", rbOff: "Arrêter la mesure",
    cursor: "Curseur", zoomIn: "Zoom avant", zoomOut: "Zoom arrière", resetNorth: "Remettre le nord en haut",
    nm: "NM", km: "km", m: "m", kt: "nd", s: "s", min: "min", FL: "FL", true: "V",
    more: "de plus",
    "param.altitude": "altitude (m)", "param.distance": "distance (m)", "param.heading": "cap (° vrai)",
    "param.position": "position (lon, lat)", "param.time": "heure (UTC)", "param.track": "piste",
    "cat.ADVICE": "Conseil", "cat.ANSWER": "Réponse", "cat.INFORMATION": "Information", "cat.INTENTION": "Intention",
    "cat.QUESTION": "Question", "cat.REQUEST": "Demande", "cat.WARNING": "Avertissement",
    "link.up": "établie", "link.degraded": "dégradée", "link.unknown": "inconnue",
    "cls.fixed-wing": "voilure fixe", "cls.rotary": "voilure tournante", "cls.drone": "drone", "cls.ship": "navire",
    "state.Accepted": "accepté", "state.Activated": "activé", "state.Nonconforming": "non conforme",
    "state.Contingent": "en urgence",
    "cat.air-sortie": "sortie aérienne", "cat.naval-operating-area": "zone d'opérations navales", "cat.exercise": "exercice",
    "cat.drone-flight": "vol de drone", "cat.other": "autre",
    countTracks: { one: "{n} piste", other: "{n} pistes" },
    countDraftConflicts: { one: "{n} conflit avant soumission", other: "{n} conflits avant soumission" },
    errJson: "GeoJSON : JSON non valide{detail}.", atChar: "au caractère",
    errGeometry: "GeoJSON : un Polygon est attendu (ou une Feature ou FeatureCollection qui en contient un), reçu {detail}.",
    errCorners: "Dessinez au moins 3 sommets, ou collez un Polygon GeoJSON.",
    errTimes: "Donnez une heure de début et de fin (UTC).",
    errNumber: "{field} : un nombre est attendu.",
  },
  ru: {
    title: "Общая оперативная обстановка", language: "Язык", logout: "Выйти",
    login: "Войти как сторона", loginHelp: "Вставьте токен доступа вашей стороны.",
    useToken: "Использовать токен", demoLogin: "Демо: войти как",
    demoBanner: "Включён демонстрационный вход: любой, кто достигнет этого сервиса, может действовать от имени любой стороны.",
    time: "Время", now: "Сейчас", play: "Воспроизвести", pause: "Пауза", speed: "скорость",
    allTimes: "всё время", conflicts: "Конфликты", hotline: "Прямая линия", message: "Сообщение",
    freeText: "или свободный текст", needsAck: "запросить подтверждение в течение 5 мин", send: "Отправить",
    newIntent: "Новое намерение", drawHelp: "Нарисуйте на карте (щёлкните вершины, затем Проверить) или вставьте GeoJSON.",
    draw: "Рисовать", clear: "Очистить", from: "с", to: "по", check: "Проверить", submit: "Отправить план",
    altitude: "высота", links: "Связь", tracks: "Треки", noConflicts: "Конфликтов нет.", acknowledge: "Подтвердить",
    acknowledged: "подтверждено", escalated: "передано на уровень", untranslated: "без перевода",
    own: "своё", full: "передано полностью", extent: "передан контур", overlap: "пересечение",
    apart: "интервал", draftClear: "Конфликтов нет: можно отправлять.",
    submitted: "Отправлено.", freeOption: "— свободный текст —", you: "вы", notice: "(только уведомление: геометрия не передана)",
    lost: "интервал нарушен", outside: "вне своего намерения",
    entersIn: "войдёт в {area} через {d}", leavesIn: "в районе {area}, выйдет через {d}", leftAgo: "покинул {area} {d} назад",
    insideArea: "в районе {area}", cpaIn: "ВКС через", cpaPassed: "ВКС пройдено", cpa: "ДКС",
    entryUnknown: "время входа не указано", timeUnknown: "время не указано",
    sent: "Отправлено.",
    layers: "Слои", layerOwn: "свои планы", layerOthers: "планы других", layerAreas: "районы",
    layerTracks: "треки", layerConflicts: "конфликты", layerLabels: "подписи",
    legend: "Условные знаки", lgOwnFull: "свой план", lgOtherFull: "план другой стороны, полностью",
    lgOtherExtent: "план другой стороны, огрублённый контур", lgArea: "запретный район",
    lgConflict: "в конфликте", lgSelected: "пара выбранного конфликта", lgDraft: "черновик",
    lgFriend: "свой трек (свой)", lgNeutral: "трек партнёра (нейтральный)", lgUnknown: "необъяснённый трек (неизвестный)",
    lgLeader: "вектор курса и скорости: 1 мин", lgTrail: "история трека",
    rangeBearing: "Дальность и пеленг", rbHelp: "щёлкните две точки на карте", rbOff: "Закончить измерение",
    cursor: "Курсор", zoomIn: "Приблизить", zoomOut: "Отдалить", resetNorth: "Север вверх",
    nm: "мор. миль", km: "км", m: "м", kt: "уз", s: "с", min: "мин", FL: "ЭП", true: "ист.",
    more: "ещё",
    "param.altitude": "высота (м)", "param.distance": "дистанция (м)", "param.heading": "курс (° ист.)",
    "param.position": "место (долг., шир.)", "param.time": "время (UTC)", "param.track": "трек",
    "cat.ADVICE": "Совет", "cat.ANSWER": "Ответ", "cat.INFORMATION": "Информация", "cat.INTENTION": "Намерение",
    "cat.QUESTION": "Вопрос", "cat.REQUEST": "Просьба", "cat.WARNING": "Предупреждение",
    "link.up": "есть", "link.degraded": "ухудшена", "link.unknown": "неизвестно",
    "cls.fixed-wing": "самолёт", "cls.rotary": "вертолёт", "cls.drone": "БПЛА", "cls.ship": "корабль",
    "state.Accepted": "принят", "state.Activated": "активен", "state.Nonconforming": "с отклонением",
    "state.Contingent": "аварийный",
    "cat.air-sortie": "вылет", "cat.naval-operating-area": "район действий флота", "cat.exercise": "учение",
    "cat.drone-flight": "полёт БПЛА", "cat.other": "прочее",
    countTracks: { one: "{n} трек", few: "{n} трека", many: "{n} треков", other: "{n} трека" },
    countDraftConflicts: {
      one: "{n} конфликт до отправки", few: "{n} конфликта до отправки",
      many: "{n} конфликтов до отправки", other: "{n} конфликта до отправки",
    },
    errJson: "GeoJSON: недопустимый JSON{detail}.", atChar: "символ",
    errGeometry: "GeoJSON: ожидается Polygon (или Feature либо FeatureCollection с ним), получено {detail}.",
    errCorners: "Нарисуйте не менее 3 вершин или вставьте GeoJSON Polygon.",
    errTimes: "Укажите время начала и окончания (UTC).",
    errNumber: "{field}: нужно число.",
  },
};

export function translator(lang) {
  const words = WORDS[lang] || WORDS.en;
  const rules = new Intl.PluralRules(lang);
  const t = (key, vars = {}) => {
    let w = words[key] ?? WORDS.en[key] ?? key;
    if (typeof w === "object") {
      const form = rules.select(vars.n ?? 0);
      w = w[form] ?? w.other;
    }
    return w.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  };
  return t;
}

// The language the picture opens in: the first its agreements give the party that the page
// speaks, else the browser's first that it speaks, else English.
export function pickLanguage(agreed, browser) {
  for (const l of agreed || []) if (LANGS.includes(l)) return l;
  for (const b of browser || []) {
    const l = String(b).slice(0, 2).toLowerCase();
    if (LANGS.includes(l)) return l;
  }
  return "en";
}
