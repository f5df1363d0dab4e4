"""What simulated clients write: causes of claims and tickets and their texts (ru/en).

Each cause carries its true label (the four groups of dissatisfaction and the process
class) that only the ground truth keeps. Templates use the slots ``{product}``, ``{qty}``,
``{unit}``, ``{order}``, ``{days}``, ``{doc}``, ``{n}`` and ``{manager}``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """Why a client wrote: true group, process class and the service-desk table it lands in."""

    group: str
    process_class: str
    table: str
    role: str


CAUSES: dict[str, Cause] = {
    "late_delivery": Cause("delivery_discipline", "delivery_planning", "sd_claims", "operator"),
    "delivery_status": Cause("delivery_discipline", "delivery_planning", "sd_tickets", "operator"),
    "short_shipment": Cause("delivery_discipline", "order_fulfilment", "sd_claims", "operator"),
    "damaged_goods": Cause("quality", "order_fulfilment", "sd_claims", "operator"),
    "wrong_labelling": Cause("quality", "order_fulfilment", "sd_claims", "operator"),
    "wrong_packaging": Cause("quality", "specification", "sd_claims", "technical_buyer"),
    "off_spec_quality": Cause("quality", "specification", "sd_claims", "technical_buyer"),
    "late_document": Cause("service", "documents", "sd_tickets", "technical_buyer"),
    "invoice_error": Cause("service", "payments", "sd_tickets", "economic_buyer"),
    "price_dispute": Cause("service", "pricing", "sd_tickets", "economic_buyer"),
    "slow_response": Cause("service", "claims_handling", "sd_tickets", "economic_buyer"),
    "worsening_lateness": Cause(
        "deterioration", "delivery_planning", "sd_claims", "economic_buyer"
    ),
    "worsening_packaging": Cause("deterioration", "order_fulfilment", "sd_claims", "operator"),
}

UNITS = {
    "ru": {"t": "т", "kg": "кг", "m": "м", "pcs": "шт."},
    "en": {"t": "t", "kg": "kg", "m": "m", "pcs": "pcs"},
}
DOCS = {
    "ru": {
        "quality_certificate": "сертификат качества",
        "invoice": "счёт-фактуру",
        "waybill": "транспортную накладную",
        "specification": "спецификацию",
    },
    "en": {
        "quality_certificate": "quality certificate",
        "invoice": "invoice",
        "waybill": "waybill",
        "specification": "specification",
    },
}

OPENINGS = {
    "ru": (
        "",
        "",
        "Добрый день!\n",
        "Здравствуйте.\n",
        "Добрый день, коллеги!\n",
        "Уважаемые коллеги!\n",
        "Здравствуйте! ",
        "Добрый день. Пишу по поводу заказа {order}. ",
    ),
    "en": (
        "",
        "",
        "Hello,\n",
        "Good morning,\n",
        "Dear team,\n",
        "Hi team! ",
        "Dear colleagues,\n",
        "Hello. Writing about order {order}. ",
    ),
}
CLOSINGS = {
    "ru": (
        "",
        "",
        " Прошу разобраться.",
        " Ждём ответа.",
        " Просим принять меры.",
        " Прошу сообщить сроки.",
        "\nС уважением.",
        " Спасибо.",
        " Ответьте, пожалуйста, сегодня.",
    ),
    "en": (
        "",
        "",
        " Please look into it.",
        " Awaiting your reply.",
        " Please take action.",
        "\nKind regards.",
        " Thanks.",
        " Please advise on the timeline.",
        "\nRegards.",
    ),
}
MIXED = {
    "ru": (
        " Please escalate.",
        " ASAP, пожалуйста.",
        " FYI: это влияет на наш production plan.",
        " Нужен update по статусу.",
        " Deadline горит.",
    ),
    "en": (" Спасибо.", " Добрый день.", " (срочно)", " Пожалуйста, ответьте."),
}

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "late_delivery": {
        "ru": (
            "Заказ {order} пришёл с опозданием на {days} дн. ({product}).",
            "Поставка {product} по заказу {order} задержалась на {days} дня, у нас простой линии.",
            "Опять не уложились в срок: {product}, {qty} {unit}, опоздание {days} дн.",
            "Машина с {product} приехала позже обещанной даты на {days} дн. Заказ {order}.",
            "Срок поставки по заказу {order} сорван. Ждали {product} {days} дн. сверх графика.",
            "Просрочка отгрузки {product} ({qty} {unit}) — {days} дн. Сорвали наш график.",
            "Нарушены сроки доставки по заказу {order}, товар {product} пришёл с задержкой.",
        ),
        "en": (
            "Order {order} arrived {days} days late ({product}).",
            "Delivery of {product} for order {order} was delayed by {days} days, our line stopped.",
            "The truck with {qty} {unit} of {product} came {days} days after the promised date.",
            "Missed delivery date on order {order}: {product} arrived {days} days late.",
            "We waited {days} extra days for {product}. This delay hurt our schedule.",
            "Late delivery again on {order}, {product} was not on time.",
        ),
    },
    "delivery_status": {
        "ru": (
            "Где наш заказ {order}? Срок поставки прошёл, а машины нет.",
            "Подскажите статус отгрузки по заказу {order}, обещали к вчерашнему дню.",
            "Заказ {order} ({product}) до сих пор не доставлен, когда ждать?",
            "Прошу сообщить, когда будет {product} по заказу {order}, срок уже прошёл.",
            "Не пришла поставка {product}, хотя дата по заказу {order} уже наступила.",
        ),
        "en": (
            "Where is our order {order}? The delivery date has passed.",
            "Could you tell us the status of order {order}? It was promised yesterday.",
            "Order {order} ({product}) has still not arrived, when can we expect it?",
            "Please let us know when {product} from order {order} will arrive, it is overdue.",
        ),
    },
    "short_shipment": {
        "ru": (
            "По заказу {order} недогруз: не хватает {qty} {unit} {product}.",
            "Получили не весь объём {product} — недопоставка {qty} {unit}.",
            "В машине оказалось меньше {product}, чем в заказе {order} (минус {qty} {unit}).",
            "Недовложение по заказу {order}: {product}, разница {qty} {unit}. Когда довезёте?",
            "Отгрузили неполное количество {product}, недостача {qty} {unit}.",
            "Заказ {order} пришёл неполным. Не довезли {qty} {unit} ({product}).",
        ),
        "en": (
            "Order {order} is short: {qty} {unit} of {product} missing.",
            "We received less {product} than ordered, short by {qty} {unit}.",
            "Short shipment on {order}: {qty} {unit} of {product} were not delivered.",
            "Incomplete delivery of {product}, {qty} {unit} missing from order {order}.",
            "The quantity of {product} does not match order {order} (minus {qty} {unit}).",
        ),
    },
    "damaged_goods": {
        "ru": (
            "{product} пришёл повреждённым, упаковка порвана. Заказ {order}.",
            "При приёмке обнаружили повреждение груза: {product}, {qty} {unit} в браке.",
            "Повреждённая тара, часть {product} испорчена. Составили акт.",
            "Груз по заказу {order} повреждён при перевозке, {product} не пригоден.",
            "Упаковка вскрыта и помята, {product} частично повреждён.",
        ),
        "en": (
            "{product} arrived damaged, the packaging was torn. Order {order}.",
            "Damaged goods on delivery: {qty} {unit} of {product} unusable.",
            "The pallets with {product} were crushed, part of the goods is damaged.",
            "Order {order} was damaged in transit, {product} cannot be used.",
        ),
    },
    "wrong_labelling": {
        "ru": (
            "Маркировка на {product} не соответствует заказу {order}.",
            "Неверная маркировка груза: этикетки не совпадают с накладной ({product}).",
            "На упаковке {product} не та маркировка, склад не может принять.",
            "Ошибка в этикетках по заказу {order}, пришлось перемаркировывать {product}.",
        ),
        "en": (
            "The labels on {product} do not match order {order}.",
            "Wrong labelling: the labels do not match the waybill ({product}).",
            "Our warehouse cannot accept {product}, the marking is wrong.",
            "Labelling error on order {order}, we had to relabel {product}.",
        ),
    },
    "wrong_packaging": {
        "ru": (
            "{product} упакован не в ту тару, что согласована в спецификации.",
            "По заказу {order} пришла неправильная упаковка: нужны биг-бэги, а пришли мешки.",
            "Тип упаковки {product} не соответствует требованиям договора.",
            "Упаковка {product} не по спецификации, разгрузка заняла в два раза больше времени.",
        ),
        "en": (
            "{product} came in the wrong packaging type, not the one in the specification.",
            "Order {order}: wrong packaging, we need big bags but got sacks.",
            "The packaging of {product} does not meet the contract requirements.",
        ),
    },
    "off_spec_quality": {
        "ru": (
            "{product} не соответствует ТУ, лаборатория забраковала партию.",
            "Качество {product} по заказу {order} ниже заявленного, параметры вне допуска.",
            "Партия {product} ({qty} {unit}) не прошла входной контроль.",
            "Брак: {product} не соответствует сертификату. Требуем замену.",
            "Химический состав {product} не совпадает со спецификацией.",
        ),
        "en": (
            "{product} does not meet the specification, our lab rejected the batch.",
            "Quality of {product} in order {order} is below spec, values out of tolerance.",
            "The batch of {product} ({qty} {unit}) failed incoming inspection.",
            "Defective goods: {product} does not match its certificate. We request replacement.",
        ),
    },
    "late_document": {
        "ru": (
            "До сих пор не получили {doc} по заказу {order}.",
            "Прошу срочно прислать {doc}, ждём уже {days} дн.",
            "Без документов не можем принять товар: нет {doc} по заказу {order}.",
            "Где {doc}? Запрос отправляли давно, ответа нет.",
            "Задерживаете {doc} по заказу {order}, бухгалтерия не может закрыть месяц.",
        ),
        "en": (
            "We still have not received the {doc} for order {order}.",
            "Please send the {doc} urgently, we have been waiting {days} days.",
            "We cannot accept the goods without documents: the {doc} for {order} is missing.",
            "Where is the {doc}? We asked a while ago and got no answer.",
        ),
    },
    "invoice_error": {
        "ru": (
            "В счёте по заказу {order} неверная сумма, прошу перевыставить.",
            "Ошибка в реквизитах счёта, оплатить не можем.",
            "Счёт по заказу {order} не совпадает с согласованной ценой.",
            "Прошу исправить счёт: указано не то количество {product}.",
        ),
        "en": (
            "The invoice for order {order} has the wrong amount, please reissue it.",
            "There is an error in the invoice details, we cannot pay it.",
            "Invoice for order {order} does not match the agreed price.",
        ),
    },
    "price_dispute": {
        "ru": (
            "Цена на {product} выросла без предупреждения.",
            "Почему цена {product} в заказе {order} выше, чем в прайсе?",
            "Не согласны с новой ценой на {product}, у конкурентов дешевле.",
            "Прошу пересмотреть цену на {product}, объём у нас большой.",
        ),
        "en": (
            "The price of {product} went up without notice.",
            "Why is the price of {product} in order {order} higher than in the price list?",
            "We do not accept the new price for {product}, competitors are cheaper.",
        ),
    },
    "slow_response": {
        "ru": (
            "Не можем дозвониться до менеджера уже неделю.",
            "На наши письма никто не отвечает, менеджер {manager} недоступен.",
            "Претензию отправили две недели назад, ответа так и нет.",
            "Очень медленно отвечаете на запросы, приходится напоминать по три раза.",
            "Менеджер не перезванивает, вопросы висят без ответа.",
        ),
        "en": (
            "We have not been able to reach our account manager for a week.",
            "Nobody answers our e-mails, manager {manager} is unavailable.",
            "We sent a complaint two weeks ago and still have no reply.",
            "Your team is very slow to respond, we have to remind you three times.",
        ),
    },
    "worsening_lateness": {
        "ru": (
            "Уже {n}-я задержка за последние недели. Заказ {order} опять опоздал на {days} дн.",
            "С поставками становится всё хуже: снова опоздание по заказу {order}.",
            "Раньше возили вовремя, а последние месяцы постоянно срываете сроки. "
            "{product} опять позже.",
            "Ситуация ухудшается: уже {n}-й раз подряд задержка, "
            "теперь {days} дн. по заказу {order}.",
            "Снова опоздание, и так каждый раз. Перевозчик стал работать заметно хуже.",
        ),
        "en": (
            "Delay number {n} in recent weeks: order {order} is late again by {days} days.",
            "Deliveries keep getting worse: order {order} is late again.",
            "You used to deliver on time, but lately every delivery is late. {product} late again.",
            "It is getting worse: {n} late deliveries in a row, now {days} days on {order}.",
        ),
    },
    "worsening_packaging": {
        "ru": (
            "Опять повреждённая упаковка, уже {n}-й случай за месяц. Заказ {order}.",
            "С упаковкой всё хуже и хуже: снова брак по {product}.",
            "Раньше такого не было, а теперь каждая поставка с повреждениями. Заказ {order}.",
            "Повторная проблема с упаковкой {product}, качество упаковки заметно упало.",
        ),
        "en": (
            "Damaged packaging again, case number {n} this month. Order {order}.",
            "Packaging keeps getting worse: another problem with {product}.",
            "This never happened before, now every delivery has packaging damage. Order {order}.",
            "Repeated packaging problem with {product}, the packaging quality has clearly dropped.",
        ),
    },
}
